/** A connection URL fit for logs, errors and the API: the password is replaced. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '*****';
    for (const key of [...parsed.searchParams.keys()]) {
      if (key.toLowerCase() === 'password') parsed.searchParams.set(key, '*****');
    }
    return parsed.toString();
  } catch {
    return '(unparseable connection URL)';
  }
}

/** Removes every occurrence of the given secrets from a text (error messages can quote a URL). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('*****');
  }
  return out;
}
