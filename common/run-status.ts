import type { RunStatus } from './model.ts'

/**
 * The one reading of a run's status: which statuses are final. Every file that asks, on the page
 * (the client's list of opened runs, the React hooks, the AI SDK transport) and in the worker
 * (the run state machine, `worker/run-state.ts`, among them), asks here. And the one exhaustiveness check.
 */

/** `ended` and `failed` are final: the hub never reconnects such a run by itself (opening a failed run again retries it). */
export function isFinal(status: RunStatus): boolean {
  return status === 'ended' || status === 'failed'
}

/** A `switch` over a union that handled every member: reaching this is a message or case of a shape the code does not know. */
export function assertNever(value: never, what = 'case'): never {
  throw new Error(`Unhandled ${what}: ${JSON.stringify(value)}`)
}
