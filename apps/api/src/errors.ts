import { InvalidInputError, NotFoundError, UnavailableError } from '@lookalike/shared/domain/errors';
import { GraphQLError } from 'graphql';

/** Maps use-case errors to GraphQL errors with codes clients can branch on. */
export function toGraphQLError(error: unknown): unknown {
  if (error instanceof InvalidInputError) {
    return new GraphQLError(error.message, { extensions: { code: 'BAD_USER_INPUT', ...error.details } });
  }
  if (error instanceof NotFoundError) return new GraphQLError(error.message, { extensions: { code: 'NOT_FOUND' } });
  if (error instanceof UnavailableError) return new GraphQLError(error.message, { extensions: { code: 'SERVICE_UNAVAILABLE' } });
  return error;
}

export async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toGraphQLError(error);
  }
}
