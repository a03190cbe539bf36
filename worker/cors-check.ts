import { STREAM_DEFAULTS } from './hub-options.ts'
import type { DropReason } from './transport.ts'

/**
 * Why a request failed before any response: the network, or CORS. A browser reports both as the
 * same bare `TypeError` ("Failed to fetch", "NetworkError when attempting to fetch resource"). For
 * a cross-origin URL, a `no-cors` HEAD tells them apart: it needs no CORS headers, so if it is
 * answered, the origin is reachable and refused to share the response with this page's origin.
 */
export async function explainNetworkFailure(url: string, error: unknown, fetchImpl: typeof fetch): Promise<DropReason> {
  const failure: DropReason = { kind: 'network', message: String(error) }
  const own = (globalThis as { location?: { origin?: string } }).location?.origin
  let target: URL
  try {
    target = new URL(url)
  } catch {
    return failure
  }
  if (!(error instanceof TypeError) || own === undefined || target.origin === own) return failure
  const controller = new AbortController()
  const deadline = setTimeout(() => controller.abort(), STREAM_DEFAULTS.probeTimeoutMs)
  try {
    await fetchImpl(url, { method: 'HEAD', mode: 'no-cors', credentials: 'omit', cache: 'no-store', signal: controller.signal })
  } catch {
    return failure // unreachable too: a real network failure, retried
  } finally {
    clearTimeout(deadline)
    controller.abort()
  }
  return {
    kind: 'cors',
    message: `${target.origin} answers, but does not allow this page's origin (${own}) to read ${url}: its response (and its preflight, for a POST or custom headers) must carry \`Access-Control-Allow-Origin: ${own}\` (and \`Access-Control-Allow-Credentials: true\` with withCredentials)`,
  }
}
