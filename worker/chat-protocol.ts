import type { ResumeStrategy } from '../src/protocol.ts'

/**
 * Defaults that fit the reference chat protocol (PROTOCOL-NOTES section 1).
 * A run spec overrides each of them for other servers.
 */

/** The reference chat protocol's event names (PROTOCOL-NOTES section 1). */
export const DEFAULT_EVENT_NAMES = [
  'token', 'reasoning', 'interim_assistant', 'tool', 'tool_complete', 'approval', 'clarify',
  'metering', 'compressing', 'compressed', 'warning', 'title_status', 'title', 'done',
  'stream_end', 'cancel', 'apperror', 'error',
]
/** `done` is not among them: `metering`, `title` and `stream_end` follow it. */
export const DEFAULT_TERMINAL_EVENTS = ['stream_end', 'cancel', 'apperror', 'error']
export const DEFAULT_RESUME: ResumeStrategy = { kind: 'query', param: 'after_seq', value: 'seq' }

/** The reference protocol's ids are `<stream_id>:<seq>`; plain integers count too. */
export function serverSeqOf(id: string): number | undefined {
  const match = /(?:^|:)(\d+)$/.exec(id)
  return match ? Number(match[1]) : undefined
}

/**
 * [protocol] When a run's journal has no terminal event (its live worker died), the server
 * replays it and appends a synthetic `apperror` without an id: the rest of the run is lost.
 */
export function isInterruption(type: string, id: string | undefined): boolean {
  return type === 'apperror' && id === undefined
}
