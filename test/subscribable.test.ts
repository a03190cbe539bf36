import { describe, expect, it } from 'vitest'
import { Subscribable } from '../worker/subscribable.ts'

/** The listener base of runs and feeds (worker/subscribable.ts). */

describe('Subscribable', () => {
  class Counter extends Subscribable<number> {
    tell(n: number) {
      this.notify(n)
    }
  }

  it('tells every listener in order, over a copy, and one listener\'s throw stops none of the others', () => {
    const reported: unknown[] = []
    const reportError = globalThis.reportError
    globalThis.reportError = (error) => reported.push(error)
    try {
      const counter = new Counter()
      const heard: string[] = []
      let offLater = () => {}
      const offFirst = counter.subscribe((n) => {
        heard.push(`first ${n}`)
        offLater() // unsubscribing while notified: this notice still reaches everyone it was for
        if (n === 1) counter.subscribe((m) => heard.push(`added ${m}`)) // and a listener added now hears only later ones
      })
      counter.subscribe(() => {
        throw new Error('listener bug')
      })
      offLater = counter.subscribe((n) => heard.push(`later ${n}`))
      counter.subscribe((n) => heard.push(`last ${n}`))
      counter.tell(1)
      counter.tell(2)
      offFirst()
      counter.tell(3)
      expect(heard).toEqual(['first 1', 'later 1', 'last 1', 'first 2', 'last 2', 'added 2', 'last 3', 'added 3'])
      expect(reported.map(String)).toEqual(['Error: listener bug', 'Error: listener bug', 'Error: listener bug'])
    } finally {
      globalThis.reportError = reportError
    }
  })
})
