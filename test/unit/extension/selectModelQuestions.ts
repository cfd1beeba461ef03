// The questions of "Relay: Select Model" answered as a user downloading a repository the
// curated list does not name: shared by the Select Model tests.
import { answerQuestions, type AskedQuestion } from './vscodeStub';

/**
 * The user picks "Another model hub repository...", types `repo`, and takes its int8 variant
 * (after `beforeVariant`); an error notification is answered by `onError` (given its text and
 * buttons), any other question by `otherwise`.
 */
export function userDownloads(
  repo: string,
  beforeVariant: () => void = () => undefined,
  onError: (text: string, buttons: string[]) => string | undefined = () => undefined,
  otherwise: (question: AskedQuestion) => unknown = () => undefined,
): void {
  answerQuestions((q) => {
    if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /Another model hub repository/.test(item.label));
    if (q.api === 'showInputBox' && /model hub repository/.test(q.text)) return repo;
    if (q.api === 'showQuickPick' && /which variant/.test(q.text)) {
      beforeVariant();
      return q.items.find((item) => item.option?.variant === 'int8');
    }
    if (q.api === 'showErrorMessage') return onError(q.text, q.items);
    return otherwise(q);
  });
}
