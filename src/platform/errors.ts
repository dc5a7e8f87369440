// One error type with stable codes, mapped to HTTP in one place (app.ts). The API answers
// `{ error: { code, message, details } }`; pages show a friendly page or the form again.
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const notFound = (what: string, code = `${what.replace(/\s+/g, '_')}_not_found`) =>
  new AppError(code, 404, `No ${what} was found.`);
export const forbidden = (message = 'You do not have permission to do that.') => new AppError('forbidden', 403, message);
export const unauthorised = (message = 'Sign in or give a valid API key.') => new AppError('unauthorised', 401, message);
export const badRequest = (code: string, message: string, details?: unknown) => new AppError(code, 400, message, details);
