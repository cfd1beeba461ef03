// Chat panel webview entry: the shared app in 'chat' mode (read from body[data-view]).
import { startApp } from './app';

startApp();
