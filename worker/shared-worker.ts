/// <reference lib="webworker" />
import * as Comlink from 'comlink'
import { watchClientLock } from '../common/tab-lock.ts'
import { RunHub } from './hub.ts'

/**
 * The SharedWorker entry: one hub for every tab of this origin that uses the
 * same worker URL and name. Each connecting port gets its own client API.
 */
declare const self: SharedWorkerGlobalScope

// A MessagePort's close event is not in every engine (see hub-event-port.ts). Each tab holds a Web Lock named after itself for its
// whole life; our request for it is granted once the tab is gone, closed or crashed.
const hub = new RunHub({ watchClient: watchClientLock })

self.addEventListener('connect', (event) => {
  const port = (event as MessageEvent).ports[0]!
  Comlink.expose(hub.connect(), port)
})
