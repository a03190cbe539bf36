import { describe, expect, it } from 'vitest'
import { runStatusReducer, type RunState } from '../worker/run-state.ts'

/** The run state machine (worker/run-state.ts). Pure. */

describe('runStatusReducer', () => {
  const at = (status: RunState['status']): RunState => ({ status })

  it('walks connecting -> open -> reconnecting -> open -> ended', () => {
    let state = at('connecting')
    for (const [action, expected] of [['opened', 'open'], ['dropped', 'reconnecting'], ['opened', 'open'], ['terminal', 'ended']] as const) {
      state = runStatusReducer(state, { type: action })
      expect(state.status).toBe(expected)
    }
  })

  it('stalled is a hint on an open run only: the next byte makes it open, a drop reconnecting', () => {
    expect(runStatusReducer(at('open'), { type: 'stalled' }).status).toBe('stalled')
    expect(runStatusReducer(at('stalled'), { type: 'alive' }).status).toBe('open')
    expect(runStatusReducer(at('stalled'), { type: 'dropped' }).status).toBe('reconnecting')
    expect(runStatusReducer(at('stalled'), { type: 'terminal' }).status).toBe('ended')
    for (const status of ['connecting', 'reconnecting', 'parked', 'ended'] as const) expect(runStatusReducer(at(status), { type: 'stalled' }).status).toBe(status)
    expect(runStatusReducer(at('open'), { type: 'alive' }).status).toBe('open')
  })

  it('never leaves a final state', () => {
    const error = { type: 'error', code: 'auth', message: 'no' } as const
    for (const final of [at('ended'), { status: 'failed', error } as RunState]) {
      for (const action of [{ type: 'opened' }, { type: 'dropped' }, { type: 'parked' }, { type: 'resumed' }, { type: 'terminal' }] as const) {
        expect(runStatusReducer(final, action)).toBe(final)
      }
    }
  })

  it('leaves failed only on an explicit retry, from which it reconnects', () => {
    const failed: RunState = { status: 'failed', error: { type: 'error', code: 'auth', message: 'sign in' } }
    expect(runStatusReducer(failed, { type: 'retry' })).toEqual({ status: 'reconnecting' })
    expect(runStatusReducer(at('ended'), { type: 'retry' })).toEqual(at('ended'))
    expect(runStatusReducer(at('open'), { type: 'retry' }).status).toBe('open')
  })

  it('keeps failures as data', () => {
    const error = { type: 'error', code: 'not_found', message: 'gone', status: 404 } as const
    expect(runStatusReducer(at('open'), { type: 'failed', error })).toEqual({ status: 'failed', error })
  })

  it('lets a parked run resume only through reconnecting, ignoring late callbacks', () => {
    const parked = runStatusReducer(at('open'), { type: 'parked' })
    expect(parked.status).toBe('parked')
    expect(runStatusReducer(parked, { type: 'dropped' })).toBe(parked)
    expect(runStatusReducer(parked, { type: 'opened' })).toBe(parked)
    expect(runStatusReducer(parked, { type: 'resumed' }).status).toBe('reconnecting')
  })
})
