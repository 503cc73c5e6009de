/**
 * Node's fetch for hub downloads and image URLs, through the proxy the environment names.
 *
 * Python's `requests` (what `huggingface_hub` and `load_image` use) honours `HTTPS_PROXY`,
 * `HTTP_PROXY` and `NO_PROXY`; Node 20's global fetch ignores them, so behind a corporate proxy every
 * download failed with a connection error. When one of those variables is set, requests go through
 * undici's `EnvHttpProxyAgent` (undici is the library Node's own fetch is built on; its npm package
 * exposes the proxy agent that Node 20 does not), which reads the same variables with the same
 * meaning (lower- or upper-case, `NO_PROXY` host suffixes and ports, `*`). Without them, the global
 * fetch is used and undici is never loaded; loopback addresses never use the proxy.
 */
import type { Dispatcher } from 'undici';

let agent: { key: string; dispatcher: Dispatcher; fetch: typeof import('undici').fetch } | undefined;

/** The proxy variables in effect, as one string (empty: no proxy). */
function proxyEnv(): string {
  const e = process.env;
  const https = e.https_proxy ?? e.HTTPS_PROXY ?? '';
  const http = e.http_proxy ?? e.HTTP_PROXY ?? '';
  if (!https && !http) return '';
  return [https, http, e.no_proxy ?? e.NO_PROXY ?? ''].join('\n');
}

/**
 * Runs `make` without undici 6's one-time "EnvHttpProxyAgent is experimental" process warning (code
 * UNDICI-EHPA), which users would otherwise see on every proxied run: the API is pinned by the
 * dependency's major version and its behaviour here is covered by spec/hub.spec.ts.
 */
function quietly<T>(make: () => T): T {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const opts = rest[0] as { code?: string } | undefined;
    if (opts?.code === 'UNDICI-EHPA') return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return make();
  } finally {
    process.emitWarning = emit;
  }
}

/**
 * Whether a request targets this machine (`localhost`, 127.0.0.0/8, `::1`). Those never go through the
 * proxy, as in Go's and most tools' handling of these variables: a proxy cannot reach the caller's
 * loopback, and a local mirror (`HF_ENDPOINT=http://localhost:...`) must keep working with a proxy set.
 */
function isLoopback(input: Parameters<typeof fetch>[0]): boolean {
  let host: string;
  try {
    host = new URL(input instanceof URL ? input.href : typeof input === 'string' ? input : input.url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}

/**
 * A fetch that goes through `HTTPS_PROXY` / `HTTP_PROXY` (minus `NO_PROXY`) when they are set, else
 * the global fetch. The environment is read on each call, so a change takes effect on the next request.
 */
export const envFetch: typeof fetch = async (input, init) => {
  const key = proxyEnv();
  if (!key || isLoopback(input)) return globalThis.fetch(input, init);
  if (agent?.key !== key) {
    const undici = await import('undici');
    const old = agent?.dispatcher;
    agent = { key, dispatcher: quietly(() => new undici.EnvHttpProxyAgent()), fetch: undici.fetch };
    void old?.close().catch(() => {});
  }
  const url = input instanceof URL ? input.href : typeof input === 'string' ? input : input.url;
  type UndiciInit = NonNullable<Parameters<typeof agent.fetch>[1]>;
  return agent.fetch(url, { ...(init as UndiciInit), dispatcher: agent.dispatcher }) as unknown as Promise<Response>;
};
