/**
 * The client: `createRunRelay` (one relay per tab, over one hub for every tab of the origin), `startRun`, `RelayError`, and the public model (run specs, events, statuses, summaries).
 *
 * @module run-relay
 */
export { createRunRelay } from './client.ts'
export { startRun, START_RUN_DEFAULTS, type StartedRun, type StartRunOptions } from './start-run.ts'
export { RELAY_DEFAULTS, type RelayOptions, type RunHandlers, type RunRelay, type SubscribeOptions, type Unsubscribe } from './relay-types.ts'
export { RelayError, type RelayErrorCode } from './errors.ts'
export { PROTOCOL_VERSION } from '../common/protocol-version.ts'
// What apps use; the wire contract between page and hub (HubApi, sinks, messages) stays internal.
export type {
  Announcement, FeedSpec, FeedSummary, IdScheme, ReconnectPolicy, ResumeStrategy, ResyncReason, RunEnd, RunError, RunErrorCode, RunEvent, RunSpec,
  RunStatus, RunSummary, ServerPreset, StartAt, SubscriptionTarget, TransportKind,
} from '../common/model.ts'
export type { HeaderSource, HubDiagnostics, HubHello, HubSettings } from '../common/hub-wire.ts'
