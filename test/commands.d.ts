import 'vitest/browser'

declare module 'vitest/browser' {
  interface BrowserCommands {
    openTab(path: string): Promise<string>
    evalInTab<T = unknown>(id: string, expression: string): Promise<T>
    closeTab(id: string): Promise<void>
    crashTab(id: string): Promise<void>
    reloadTab(id: string): Promise<void>
    killSharedWorker(workerName: string): Promise<void>
    setWorkerOffline(workerName: string, offline: boolean): Promise<void>
    busySharedWorker(workerName: string, ms: number): Promise<void>
    env(name: string): Promise<string | undefined>
    engineActions(): Promise<import('./engines/tab-driver.ts').EngineAction[]>
    pageHeap(): Promise<number>
    setViewport(id: string, width: number, height: number): Promise<void>
    screenshotTab(id: string, path: string): Promise<void>
    servePackedConsumer(): Promise<import('./packed-consumer.ts').PackedConsumer>
    closePackedConsumer(): Promise<void>
    closedPort(): Promise<number>
  }
}
