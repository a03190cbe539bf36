import { commands } from 'vitest/browser'
import { describe, expect, it } from 'vitest'
import { createRunRelay } from '../src/index.ts'
import { engine, engineCan } from './engine.ts'
import { specOf, startRun, uniqueName, useRelays, waitFor } from './helpers.ts'

/** What `dispose()` leaves behind when an app makes a relay per view, through a real SharedWorker. */
const relay = useRelays('dispose')

describe('a relay per view', () => {
  /**
   * Counts what the relay can leave behind in the page: listeners on the global, timers,
   * SharedWorker ports. Wraps the globals for the duration of one test.
   */
  function trackPage() {
    const listeners = new Set<unknown>()
    const timers = new Set<unknown>()
    let openPorts = 0
    const original = { add: globalThis.addEventListener, remove: globalThis.removeEventListener, setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout, setInterval: globalThis.setInterval, clearInterval: globalThis.clearInterval, SharedWorker: globalThis.SharedWorker }
    // Weakly keyed, so the tracker itself keeps no listener (and no relay) alive.
    const listenerIds = new WeakMap<object, number>()
    let nextListenerId = 0
    const key = (type: string, listener: object) => {
      if (!listenerIds.has(listener)) listenerIds.set(listener, nextListenerId++)
      return `${type}:${listenerIds.get(listener)}`
    }
    Object.assign(globalThis, {
      addEventListener(type: string, listener: EventListener, options?: AddEventListenerOptions) {
        listeners.add(key(type, listener))
        return original.add.call(globalThis, type, listener, options)
      },
      removeEventListener(type: string, listener: EventListener, options?: EventListenerOptions) {
        listeners.delete(key(type, listener))
        return original.remove.call(globalThis, type, listener, options)
      },
      setTimeout(callback: () => void, ms?: number) {
        const id = original.setTimeout.call(globalThis, () => {
          timers.delete(id)
          callback()
        }, ms)
        timers.add(id)
        return id
      },
      clearTimeout(id: number) {
        timers.delete(id)
        original.clearTimeout.call(globalThis, id)
      },
      setInterval(callback: () => void, ms?: number) {
        const id = original.setInterval.call(globalThis, callback, ms)
        timers.add(id)
        return id
      },
      clearInterval(id: number) {
        timers.delete(id)
        original.clearInterval.call(globalThis, id)
      },
      SharedWorker: class extends original.SharedWorker {
        constructor(url: string | URL, options?: WorkerOptions & { name?: string }) {
          super(url, options)
          openPorts++
          let closed = false
          const close = this.port.close.bind(this.port)
          this.port.close = () => {
            if (!closed) openPorts--
            closed = true
            close()
          }
        }
      },
    })
    return {
      counts: () => ({ listeners: listeners.size, timers: timers.size, openPorts }),
      restore: () => Object.assign(globalThis, { addEventListener: original.add, removeEventListener: original.remove, setTimeout: original.setTimeout, clearTimeout: original.clearTimeout, setInterval: original.setInterval, clearInterval: original.clearInterval, SharedWorker: original.SharedWorker }),
    }
  }

  /** The page's heap once garbage collection has nothing more to free: readings polled until two agree within 1 %. */
  async function settledHeap(): Promise<number> {
    let last = await commands.pageHeap()
    return waitFor(async () => {
      const now = await commands.pageHeap()
      const stable = Math.abs(now - last) < last / 100
      last = now
      return stable ? now : undefined
    }, { intervalMs: 200, what: 'the heap to settle' })
  }

  // The page heap is read over the DevTools protocol: elsewhere the same cycles check everything but the heap.
  const heapToo = engine === 'chromium'
  it(`dispose() leaves nothing behind: 1,000 create/dispose cycles keep listeners, timers, ports and locks flat${heapToo ? '' : ' (the heap figure is Chromium only: reading it needs CDP)'}`, async () => {
    const measureHeap = heapToo && (await engineCan('pageHeap'))
    const name = uniqueName('per-view')
    const keeper = relay(name) // keeps the worker and the run alive across cycles
    const run = await startRun(uniqueName('s'), 'many views', { tokens: 400, rate: 20 })
    await keeper.open(specOf(run))
    const page = trackPage()
    try {
      const viewId = uniqueName('view')
      const cycle = async () => {
        const view = createRunRelay({ name, clientId: viewId })
        await view.subscribe({ runId: run.streamId }, {}).ready
        view.dispose()
      }
      const settled = async () => {
        await waitFor(async () => (await keeper.diagnostics()).clients === 1, { what: 'the hub to release every disposed view' })
        await waitFor(() => page.counts().timers === 0 && page.counts().openPorts === 0, { what: 'timers and ports of disposed views to go' })
        // Only the keeper's life lock is held, and only the hub's wait for it is pending (locks of the origin, worker included).
        // Other tests' client life locks left out: an engine whose browser contexts share Web Locks shows
        // those of the test files running beside this one. Any other lock still counts.
        const ours = (lock: LockInfo) => !lock.name?.startsWith('run-relay:client:') || [keeper.clientId, `${viewId}:`].some((id) => lock.name!.includes(id))
        const locks = await waitFor(async () => {
          const query = await navigator.locks.query()
          const [held, pending] = [(query.held ?? []).filter(ours), (query.pending ?? []).filter(ours)]
          return held.length === 1 && pending.length === 1 ? { held: held.length, pending: pending.length } : undefined
        }, { what: 'the life locks of disposed views to go' })
        return { ...page.counts(), ...locks }
      }
      for (let i = 0; i < 50; i++) await cycle() // warm-up: code paths compiled, caches filled
      const before = await settled()
      const heapBefore = measureHeap ? await settledHeap() : 0
      for (let i = 0; i < 1000; i++) await cycle()
      const after = await settled()
      expect(after).toEqual(before)
      expect(before.listeners).toBe(0)
      if (!measureHeap) return
      const heapAfter = await settledHeap()
      const perCycle = (heapAfter - heapBefore) / 1000
      console.log(`page heap over 1,000 create/dispose cycles: ${heapBefore} -> ${heapAfter} bytes, ${perCycle.toFixed(1)} bytes per relay`)
      expect(perCycle).toBeLessThan(1024) // 2.9 KB per relay before dispose() removed its pagehide listener
    } finally {
      page.restore()
    }
  }, 240_000) // about 10 s in Chromium; WebKit's cycles are slower (about 90 s on a loaded 2-core machine)
})
