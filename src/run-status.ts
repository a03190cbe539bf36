import type { RunStatus } from './model.ts'

/**
 * The page's one reading of a run's status: which statuses are final. Every page-side file that
 * asks (the client's list of opened runs, the React hooks, the AI SDK transport) asks here.
 */

/** `ended` and `failed` are final: the hub never reconnects such a run by itself (opening a failed run again retries it). */
export function isFinal(status: RunStatus): boolean {
  return status === 'ended' || status === 'failed'
}
