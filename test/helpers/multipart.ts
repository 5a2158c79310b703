const BOUNDARY = '----lookalike-multipart-boundary';

/**
 * A GraphQL multipart request (operations, map, one file as the variable `f`), as `curl -F` sends
 * it, built by hand: for clients that send it with node:http, cheaply (the load benchmark) or in
 * parts (a request still in flight when the server is told to stop).
 */
export function graphqlMultipart(
  query: string,
  variables: Record<string, unknown>,
  file: { bytes: Buffer; name: string; contentType?: string },
): { body: Buffer; contentType: string } {
  const part = (name: string, extra = '') => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"${extra}\r\n`;
  const head =
    part('operations') + '\r\n' + JSON.stringify({ query, variables: { ...variables, f: null } }) + '\r\n' +
    part('map') + '\r\n' + JSON.stringify({ 0: ['variables.f'] }) + '\r\n' +
    part('0', `; filename="${file.name}"`) + `Content-Type: ${file.contentType ?? 'application/octet-stream'}\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head), file.bytes, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${BOUNDARY}`,
  };
}
