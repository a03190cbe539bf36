import type { RunError, RunStatus } from '../common/model.ts'
import { assertNever, isFinal } from '../common/run-status.ts'

/** Everything that can happen to a run's connection. The only way its status changes. */
export type RunAction =
  | { type: 'opened' }
  /** An open connection heard nothing for `stalledAfterMs`, and heard again. */
  | { type: 'stalled' }
  | { type: 'alive' }
  | { type: 'dropped' }
  | { type: 'parked' }
  | { type: 'resumed' }
  | { type: 'terminal' }
  | { type: 'failed'; error: RunError }
  /** The app opened a failed run again: try once more from its cursor. */
  | { type: 'retry' }

export interface RunState {
  status: RunStatus
  error?: RunError
}

/**
 * The run state machine. Pure; invalid transitions return the state unchanged,
 * so a late callback from a closed connection cannot revive a finished run.
 * Only an explicit `retry` (the app opening a failed run again) leaves `failed`.
 */
export function runStatusReducer(state: RunState, action: RunAction): RunState {
  const next = transition(state, action)
  // A transition to where the run already is changes nothing: subscribers hear no repeat.
  return next.status === state.status && next.error === state.error ? state : next
}

function transition(state: RunState, action: RunAction): RunState {
  if (action.type === 'retry') return state.status === 'failed' ? { status: 'reconnecting' } : state
  if (isFinal(state.status)) return state
  switch (action.type) {
    case 'opened':
      return state.status === 'parked' ? state : { status: 'open' }
    case 'stalled':
      return state.status === 'open' ? { status: 'stalled' } : state
    case 'alive':
      return state.status === 'stalled' ? { status: 'open' } : state
    case 'dropped':
      return state.status === 'parked' ? state : { status: 'reconnecting' }
    case 'parked':
      return { status: 'parked' }
    case 'resumed':
      return state.status === 'parked' ? { status: 'reconnecting' } : state
    case 'terminal':
      return { status: 'ended' }
    case 'failed':
      return { status: 'failed', error: action.error }
    default:
      return assertNever(action)
  }
}

