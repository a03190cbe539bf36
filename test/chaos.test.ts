import fc from 'fast-check'
import { commands } from 'vitest/browser'
import { describe, expect, it } from 'vitest'
import type { RunFaults, RunSettings } from '../dev-server/chat-server.ts'
import { createRunRelay, type RunSpec, type ServerPreset, type TransportKind } from '../src/index.ts'
import { cutConnections, finishedWire, recorder, restartServer, serverStats, startRun, uniqueName, waitFor, wireShape } from './helpers.ts'

/**
 * Property: whatever faults the server and the network throw at a run, under each preset and
 * transport, through a real SharedWorker against the dev chat server:
 * - a schedule whose faults the contract can repair, each within the retry bound (a cut, a stall,
 *   a skipped seq, a restart that keeps the journal, up to 3 refusals against 4 retries, a 401 the
 *   app recovers from), ends `ended` with every subscriber's transcript equal to the server's and
 *   no resync: a hub that gives up early, or signals loss that did not happen, fails it;
 * - a restart that trims the journal ends `ended`, whole or with a `server_lost_events` resync;
 * - a cut or a stall on a server that cannot resume ends whole or fails `unresumable` with a prefix;
 * - no run ever has two connections open;
 * - a run opens at most (maxRetries + 1) connections per event it logs, plus maxRetries + 1
 *   (and one more after each re-open by the app);
 * - every run ends, or fails, within a deadline.
 *
 * `npm test` runs a modest, seeded number of schedules; `npm run chaos` runs many more
 * (CHAOS_RUNS, CHAOS_SEED). A failure prints the seed and the shrunk schedule that reproduce it.
 */

interface Contract {
  name: string
  preset?: ServerPreset
  wire: RunSettings['wire']
  end?: RunSettings['end']
  /** The server replays from the start whatever the cursor. */
  ignoreCursor?: boolean
  transports: TransportKind[]
  /** The server numbers events gaplessly: seq skips and journal trims are detectable. */
  seq: boolean
  /** The server can resume: a cut mid-run is repaired, not a typed loss. */
  resumable: boolean
  /** The run ends when the response closes cleanly: a stalled connection the server then closes cleanly looks like the end, by contract. */
  endsByClose?: boolean
}

const CONTRACTS: Contract[] = [
  { name: 'reference', preset: 'reference', wire: 'reference', transports: ['eventsource', 'fetch'], seq: true, resumable: true },
  { name: 'ai-sdk', preset: 'ai-sdk', wire: 'ai-sdk', transports: ['fetch'], seq: false, resumable: true },
  { name: 'openai', preset: 'openai', wire: 'openai', transports: ['fetch'], seq: false, resumable: false },
  { name: 'last-event-id', preset: 'last-event-id', wire: 'opaque-ids', end: 'close', transports: ['fetch'], seq: false, resumable: true, endsByClose: true },
  { name: 'defaults, timestamp ids', wire: 'timestamp-ids', transports: ['eventsource', 'fetch'], seq: false, resumable: true },
  { name: 'defaults, opaque ids, no seek', wire: 'opaque-ids', ignoreCursor: true, transports: ['eventsource', 'fetch'], seq: false, resumable: true },
]
const TOKENS = 30
const MAX_RETRIES = 4

const schedule = fc.record({
  contract: fc.integer({ min: 0, max: CONTRACTS.length - 1 }),
  transport: fc.integer({ min: 0, max: 1 }),
  /** The network fails under the run once the first subscriber holds this many events. */
  cutAt: fc.option(fc.integer({ min: 1, max: TOKENS }), { nil: undefined }),
  /** The server writes nothing more to that connection after this seq. */
  stallAfter: fc.option(fc.integer({ min: 1, max: TOKENS }), { nil: undefined }),
  /** The server leaves one seq out (seq servers only). */
  skipSeqAt: fc.option(fc.integer({ min: 2, max: TOKENS }), { nil: undefined }),
  /** The server restarts mid-run, keeping or losing part of its journal (seq servers only). */
  restart: fc.option(fc.constantFrom('keep' as const, 'trim' as const), { nil: undefined }),
  /** 5xx answers before the stream, or a 401 the app recovers from by opening the run again. */
  refusal: fc.option(fc.oneof(fc.record({ status: fc.constantFrom(500, 502, 503), times: fc.integer({ min: 1, max: 3 }) }), fc.constant({ status: 401, times: 1 })), { nil: undefined }),
  /** A subscriber whose handler takes this long per batch. */
  slowMs: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
  /** A second subscriber arrives once the first holds this many events. */
  lateAt: fc.integer({ min: 0, max: TOKENS }),
})

type Schedule = typeof schedule extends fc.Arbitrary<infer T> ? T : never

/** How many schedules expected each outcome, for the summary line. */
const outcomes = new Map<string, number>()

async function runSchedule(s: Schedule): Promise<void> {
  const contract = CONTRACTS[s.contract]!
  const transport = contract.transports[s.transport % contract.transports.length]!
  const faults: RunFaults = {}
  if (s.stallAfter !== undefined && !contract.endsByClose) faults.stallAfter = s.stallAfter
  if (contract.seq && s.skipSeqAt !== undefined) faults.skipSeqAt = s.skipSeqAt
  if (s.refusal) Object.assign(faults, { status: s.refusal.status, statusTimes: s.refusal.times })
  const run = await startRun(uniqueName('chaos'), `chaos ${contract.name}`, { tokens: TOKENS, rate: 100, wire: contract.wire, end: contract.end, ignoreCursor: contract.ignoreCursor, faults })
  const relay = createRunRelay({ name: uniqueName('chaos') })
  try {
    const spec: RunSpec = {
      runId: run.streamId, sessionId: run.sessionId, url: run.url, preset: contract.preset, transport,
      reconnect: { baseMs: 10, maxMs: 100, maxRetries: MAX_RETRIES }, silenceTimeoutMs: 400,
    }
    const first = recorder()
    const late = recorder()
    let lateStarted = false
    const slow = s.slowMs
    const firstHandlers = slow === undefined ? first.handlers : {
      ...first.handlers,
      onEvents: (...args: Parameters<NonNullable<typeof first.handlers.onEvents>>) => {
        const until = performance.now() + slow
        while (performance.now() < until) { /* a busy pane */ }
        first.handlers.onEvents!(...args)
      },
    }
    let reopened = 0
    await relay.open(spec)
    relay.subscribe({ runId: run.streamId }, firstHandlers)
    const deadline = performance.now() + 25_000
    let cut = false
    let restarted = false
    // A 401 fails the run until the app opens it again (below): that failure is not the end.
    const awaitingReopen = () => first.errors.at(-1)?.code === 'auth' && first.statuses.at(-1) === 'failed' && reopened === 0
    while (!(first.finished && (!lateStarted || late.finished)) || awaitingReopen()) {
      if (performance.now() > deadline) throw new Error(`run did not end within 25 s; statuses ${first.statuses.join(',')}`)
      const held = first.events.length
      if (!lateStarted && held >= s.lateAt) {
        lateStarted = true
        relay.subscribe({ runId: run.streamId }, late.handlers)
      }
      if (s.cutAt !== undefined && !cut && held >= s.cutAt) {
        cut = true
        await cutConnections(run.streamId)
      }
      if (contract.seq && s.restart && !restarted && held >= TOKENS / 2) {
        restarted = true
        await restartServer(run.streamId, { journal: s.restart, worker: 'continue' })
      }
      if (awaitingReopen()) {
        reopened++
        await relay.open(spec) // the user signed in again: the 401 was once
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const sent = wireShape(await finishedWire(run.streamId))
    const stats = await serverStats(run.streamId)
    const outcome = expectedOutcome(s, contract, faults)
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    for (const [who, seen] of [['first', first], ['late', late]] as const) {
      if (who === 'late' && !lateStarted) continue
      const got = wireShape(seen.events)
      const status = seen.statuses.at(-1)
      const failed = status === 'failed' ? seen.errors.at(-1)?.code : undefined
      const what = `${who} subscriber, ${outcome} expected (status ${status}${failed ? ` ${failed}` : ''}, resyncs ${seen.resyncs.join(',') || 'none'})`
      switch (outcome) {
        case 'whole':
          expect(status, what).toBe('ended')
          expect(seen.resyncs, what).toEqual([])
          expect(got, what).toEqual(sent)
          break
        case 'whole or a hole':
          expect(status, what).toBe('ended')
          expect(seen.resyncs.every((reason) => reason === 'server_lost_events'), what).toBe(true)
          if (seen.resyncs.length === 0) expect(got, what).toEqual(sent)
          // With the hole, what arrived is still the server's events, in order, none doubled: a subsequence.
          else expect(isSubsequence(got, sent), `${what}: in order, none doubled, nothing invented`).toBe(true)
          break
        case 'whole or unresumable':
          expect(seen.resyncs, what).toEqual([])
          if (status === 'ended') expect(got, what).toEqual(sent)
          else {
            expect(failed, what).toBe('unresumable')
            expect(got, `${what}: a prefix`).toEqual(sent.slice(0, got.length))
          }
          break
        default:
          return outcome satisfies never
      }
    }
    // The hub closes a connection before it opens the next; the server may see the old socket close a
    // moment after the new request arrives (TCP), never for longer.
    expect(stats.maxOpen, 'connections open at once').toBeLessThanOrEqual(2)
    expect(stats.overlapMs, 'ms two connections were open at once, as the server saw it').toBeLessThan(250)
    const logged = (await relay.diagnostics()).runs[0]?.eventCount ?? 0
    expect(stats.opened, 'connections over the run').toBeLessThanOrEqual((logged + 2 + reopened) * (MAX_RETRIES + 1))
  } finally {
    relay.dispose()
  }
}

/** What a schedule must end in: its faults decide it, never what the hub happened to do. */
function expectedOutcome(s: Schedule, contract: Contract, faults: RunFaults): 'whole' | 'whole or a hole' | 'whole or unresumable' {
  // A trimmed journal loses events for good (unless the run had finished before the restart).
  if (contract.seq && s.restart === 'trim') return 'whole or a hole'
  // A server that cannot resume loses the rest of the run to a cut or a stall (unless it came after the end).
  if (!contract.resumable && (s.cutAt !== undefined || faults.stallAfter !== undefined)) return 'whole or unresumable'
  // Everything else is repaired within the retry bound: at most 3 refusals against MAX_RETRIES = 4, and each cut,
  // stall, skip or restart is followed by new events, which reset the retry count.
  return 'whole'
}

function isSubsequence(part: string[], whole: string[]): boolean {
  let at = 0
  for (const item of part) {
    while (at < whole.length && whole[at] !== item) at++
    if (at++ >= whole.length) return false
  }
  return true
}

describe('chaos: random fault schedules × presets × transports', () => {
  it('every repairable schedule ends whole, every other one is signalled; one connection at a time; bounded connections; every run ends', async () => {
    const numRuns = Number(await commands.env('CHAOS_RUNS')) || 10
    const seed = Number(await commands.env('CHAOS_SEED')) || 20261126
    const tally = new Map<string, number>()
    await fc.assert(fc.asyncProperty(schedule, async (s) => {
      const contract = CONTRACTS[s.contract]!
      const key = `${contract.name} / ${contract.transports[s.transport % contract.transports.length]}`
      tally.set(key, (tally.get(key) ?? 0) + 1)
      await runSchedule(s)
    }), { numRuns, seed, endOnFailure: true })
    console.log(`chaos: ${numRuns} schedules, seed ${seed}, 0 violations; by expected outcome: ${JSON.stringify(Object.fromEntries(outcomes))}; by preset / transport: ${JSON.stringify(Object.fromEntries(tally))}`)
  }, 30 * 60_000)
})
