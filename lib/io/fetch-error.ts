/**
 * Why a `fetch` call failed, in words: `fetch` rejects with a bare "fetch failed" whose `cause` chain
 * holds the system error code (ECONNREFUSED, ENOTFOUND, ...) or undici's own (a proxy's refusal is a
 * DOMException whose cause says "Proxy response (407) !== 200"). Shared by hub downloads and image URLs.
 */
export function fetchFailureReason(e: unknown): string {
  const chain: { code?: unknown; message?: unknown; cause?: unknown }[] = [];
  for (let c = e as { cause?: unknown } | undefined; c && typeof c === 'object' && chain.length < 6; c = c.cause as typeof c) chain.push(c);
  const proxy = chain.map((c) => /Proxy response \((\d+)\)/.exec(String(c.message ?? ''))).find((m) => m);
  if (proxy) {
    return `the proxy answered HTTP ${proxy[1]}` +
      (proxy[1] === '407' ? ': it wants credentials, as http://user:password@host:port in HTTPS_PROXY / HTTP_PROXY' : '');
  }
  const code = chain.map((c) => c.code).find((x): x is string => typeof x === 'string');
  const words: Record<string, string> = {
    UND_ERR_SOCKET: 'the server closed the connection',
    UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
    ECONNRESET: 'the connection was reset',
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'no such host',
    EAI_AGAIN: 'the host name could not be resolved now',
  };
  if (code) return words[code] ? `${words[code]}: ${code}` : code;
  const deepest = chain[chain.length - 1];
  return String(deepest?.message ?? e);
}
