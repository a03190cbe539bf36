/**
 * What the tests ask of the browser beyond the test page: extra tabs of the same browser
 * context (they share the test's SharedWorkers), and a few engine-internal actions. One
 * interface; `playwright-tabs.ts` (Chromium, Firefox) and `webdriver-tabs.ts` (WebKit) implement it.
 *
 * The actions a stock engine does not offer over its automation protocol are `undefined` in
 * that driver: a test asks `engineCan()` first and takes its engine's equivalent
 * (test/engine.ts says which), so nothing is skipped without a reason in its name.
 */
export interface TabDriver {
  /** Opens `path` (relative to the test page, or absolute) in a new tab; returns its id. */
  openTab(path: string): Promise<string>
  /** Evaluates `expression` (JS, awaited) in a tab; returns its JSON-able value. */
  evalInTab(id: string, expression: string): Promise<unknown>
  closeTab(id: string): Promise<void>
  reloadTab(id: string): Promise<void>
  setViewport(id: string, width: number, height: number): Promise<void>
  /** Saves a PNG of a tab to `path` (relative to the project), for a person to look at. */
  screenshotTab(id: string, path: string): Promise<void>
  /** Kills a tab's renderer: no unload, no pagehide (Chromium: DevTools protocol). */
  crashTab?(id: string): Promise<void>
  /** Kills the SharedWorker named `workerName` from outside, as a crash would (Chromium: DevTools protocol). */
  killSharedWorker?(workerName: string): Promise<void>
  /** Takes a SharedWorker off the network, or back on: `navigator.onLine` flips inside it (Chromium: DevTools protocol). */
  setWorkerOffline?(workerName: string, offline: boolean): Promise<void>
  /**
   * Keeps the SharedWorker named `workerName` busy for `ms`, as a flood of events would: its thread
   * runs a loop, so every message waits. Returns once the loop is queued (Chromium: DevTools protocol).
   */
  busySharedWorker?(workerName: string, ms: number): Promise<void>
  /** The test page's JS heap after a full garbage collection (Chromium: DevTools protocol). */
  pageHeap?(): Promise<number>
}

/** The optional, engine-internal actions of a driver. */
export type EngineAction = 'crashTab' | 'killSharedWorker' | 'setWorkerOffline' | 'busySharedWorker' | 'pageHeap'
export const ENGINE_ACTIONS: readonly EngineAction[] = ['crashTab', 'killSharedWorker', 'setWorkerOffline', 'busySharedWorker', 'pageHeap']
