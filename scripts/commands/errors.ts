/** exit code 2: the command line is wrong; exit code 1: the model, input or run failed. */
export class UsageError extends Error {
  override name = 'UsageError';
}
