import type { IdScheme, ResumeStrategy, RunEnd, RunSpec, ServerPreset, TransportKind } from '../common/model.ts'
import { REFERENCE_END_EVENTS, REFERENCE_EVENT_NAMES } from '../protocol/reference.ts'
import { STREAM_DEFAULTS } from './hub-options.ts'

/** The fields of a spec that describe one server stream: a run's, or a feed's (which has no run or session). */
export type StreamFields = Omit<RunSpec, 'runId' | 'sessionId' | 'resumeFrom' | 'retentionMs' | 'logLimits'>

/**
 * The server contract of a stream: how its server identifies events, how a run ends, how to resume.
 * Resolved once per open from the spec's preset and fields (`resolveRun`); the run, its cursor and
 * the transports read this instead of the spec's contract fields. The README's "Server contract"
 * section is the user-facing text of this file.
 */
export interface ServerContract {
  /** `auto`: per event, `opaque` when it has an id, `none` when not. Gap detection needs a declared `seq`. */
  ids: IdScheme | 'auto'
  end: Required<RunEnd>
  /** `auto`: `after_seq=0` first, then `after_event_id=<last id>` (and `Last-Event-ID` with fetch); a run without ids is replayed and skipped by count. */
  resume: ResumeStrategy | { kind: 'auto' }
  transport: TransportKind
  /** Names the EventSource transport listens to (`message` always included); the fetch transport forwards every event when `undefined`. */
  events: string[] | undefined
  /** The silence timeout the preset needs (a server whose idle signs of life are sparse), before the hub's per-transport default. */
  silenceMs: number | undefined
}


type Preset = Partial<Omit<ServerContract, 'end'>> & { end: Required<RunEnd> }

export const PRESETS: Record<ServerPreset | 'auto', Preset> = {
  reference: {
    ids: 'seq',
    end: { events: REFERENCE_END_EVENTS, data: null, onClose: false },
    resume: { kind: 'query', param: 'after_seq', value: 'seq' },
  },
  'ai-sdk': {
    ids: 'none',
    end: { events: [], data: '[DONE]', onClose: false },
    resume: { kind: 'replay' },
    transport: 'fetch',
  },
  openai: {
    ids: 'none',
    // [DONE] always comes: a clean close without it is a cut-off completion, failed as `unresumable`.
    end: { events: [], data: '[DONE]', onClose: false },
    resume: { kind: 'none' },
    transport: 'fetch',
  },
  'durable-streams': {
    ids: 'none',
    // The end is the control event's `streamClosed` (server-cursor.ts); a clean close is routine (about every 60 s).
    end: { events: [], data: null, onClose: false },
    resume: { kind: 'offset' },
    transport: 'fetch',
    // Idle, the reference server sends a control event per long-poll timeout (30 s by default).
    silenceMs: 75_000,
  },
  'last-event-id': {
    ids: 'opaque',
    end: { events: [], data: '[DONE]', onClose: true },
    resume: { kind: 'header' },
    transport: 'fetch',
  },
  // No preset named: safe for any server (see RunSpec.preset).
  auto: {
    ids: 'auto',
    end: { events: REFERENCE_END_EVENTS, data: '[DONE]', onClose: 'no-ids' },
    resume: { kind: 'auto' },
  },
}

/** The contract of a spec: its own fields over its preset's. */
export function contractOf(spec: StreamFields): ServerContract {
  const preset = PRESETS[spec.preset ?? 'auto']
  const transport = spec.transport ?? preset.transport ?? STREAM_DEFAULTS.transport
  return {
    ids: spec.ids ?? preset.ids ?? 'auto',
    end: { ...preset.end, ...spec.end },
    resume: spec.resume ?? preset.resume ?? { kind: 'auto' },
    transport,
    events: spec.events ?? (transport === 'eventsource' ? REFERENCE_EVENT_NAMES : undefined),
    silenceMs: preset.silenceMs,
  }
}

/** The names a run's connection listens to, for diagnostics: `all` with fetch and no list. */
export function listenedNames(contract: ServerContract): string[] | 'all' {
  if (contract.transport === 'fetch') return contract.events ?? 'all'
  return [...new Set([...(contract.events ?? []), 'message'])]
}

/** The gapless seq of a `seq` id: `<run>:<n>` or a plain integer; undefined past Number.MAX_SAFE_INTEGER, which a Number cannot hold exactly. */
export function serverSeqOf(id: string): number | undefined {
  const seq = seqOfId(id)
  return seq !== undefined && seq <= MAX_SAFE ? Number(seq) : undefined
}

/** The largest seq a Number holds exactly. */
export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** The seq of a `seq` id, `<run>:<n>` or a plain integer, exactly, at any size. */
export function seqOfId(id: string): bigint | undefined {
  const match = /(?:^|:)(\d+)$/.exec(id)
  return match ? BigInt(match[1]!) : undefined
}

/**
 * [protocol] When a run's journal has no terminal event (its live worker died), the reference
 * server replays it and appends a synthetic `apperror` without an id: the rest of the run is lost.
 * A server that cannot replay at all says so with `recovery_control: true` in that `apperror`'s
 * data, and then it may be the only event a late subscriber gets: a hole too, ids or not.
 */
export function isInterruption(type: string, data: string, id: string | undefined, runHasIds: boolean): boolean {
  if (type !== 'apperror' || id !== undefined) return false
  return runHasIds || isRecoveryControl(data)
}

function isRecoveryControl(data: string): boolean {
  if (!data.includes('recovery_control')) return false
  try {
    return (JSON.parse(data) as { recovery_control?: unknown }).recovery_control === true
  } catch {
    return false
  }
}
