// Bundled (esbuild, IIFE) into the test page: the webview's own modules, exposed for
// page.evaluate. Nothing here is test logic; the tests drive these from the runner.
import { startApp } from '../../../media/src/app';
import { renderMarkdown } from '../../../media/src/markdown/render';
import { blockScanStats } from '../../../media/src/markdown/streamBlocks';
import { setRenderedHtml } from '../../../media/src/view/dom';
import { TurnView } from '../../../media/src/view/turnView';

(globalThis as unknown as { relayWebview: unknown }).relayWebview = { blockScanStats, renderMarkdown, setRenderedHtml, startApp, TurnView };
