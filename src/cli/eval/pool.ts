/**
 * A bounded worker pool: at most `concurrency` tasks in flight, started in the order
 * given (with 1, exactly one after the other). Once the signal aborts or a task throws,
 * no task starts; the pool waits for those in flight, then rethrows the first error.
 */
export async function runPool<T>(tasks: readonly T[], concurrency: number, work: (task: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new Error(`concurrency must be a positive whole number (got ${concurrency}).`);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < tasks.length && !failure && !signal?.aborted) {
      const task = tasks[next++];
      try {
        await work(task);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
  if (failure) throw failure.error;
}
