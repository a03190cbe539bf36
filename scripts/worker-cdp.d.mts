import type { Browser } from 'playwright'

export function attachToSharedWorker(browser: Browser, title: string): Promise<{
  send(method: string, params?: object): Promise<any>
  detach(): Promise<void>
}>
