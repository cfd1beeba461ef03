// Answer view webview entry: the shared app in 'answer' mode (read from body[data-view]).
import { startApp } from './app';

startApp();
