/** Input a person can fix: bad bytes, bad arguments. Surfaces as GraphQL BAD_USER_INPUT. */
export class InvalidInputError extends Error {
  override readonly name: string = 'InvalidInputError';
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

/** The upload is not an image we can decode (wrong magic bytes, truncated, corrupt). Never retried. */
export class InvalidImageError extends InvalidInputError {
  override readonly name: string = 'InvalidImageError';
}

export class NotFoundError extends Error {
  override readonly name: string = 'NotFoundError';
}

/** Nothing wrong with the request, but the service cannot answer it right now: asking again may work. */
export class UnavailableError extends Error {
  override readonly name: string = 'UnavailableError';
}
