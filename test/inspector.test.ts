import { describe, expect, it } from 'vitest'
import { defineInspector, type RunRelayInspector } from '../src/inspector.ts'
import type { RunRelay } from '../src/relay-types.ts'
import { uniqueName } from './helpers.ts'

/** The inspector element (run-relay/inspector). */

describe('the inspector', () => {
  it('tails a run whose catch-up is one batch of 250,000 events', () => {
    const tag = uniqueName('inspector-tail')
    defineInspector(tag)
    const inspector = document.createElement(tag) as RunRelayInspector
    let deliver: (count: number) => void = () => {}
    inspector.relay = {
      subscribe: (_target, handlers) => {
        deliver = (count) => handlers.onEvents?.(Array.from({ length: count }, (_, i) => ({ seq: i + 1, type: 'token', data: `t${i + 1}` })), 'r')
        return Object.assign(() => {}, { ready: Promise.resolve() })
      },
      diagnostics: () => new Promise(() => {}),
    } as Partial<RunRelay> as RunRelay
    document.body.append(inspector)
    try {
      inspector.tailRun('r')
      deliver(250_000)
      const tail = [...inspector.shadowRoot!.querySelectorAll('[data-field=tail] li')].map((li) => li.textContent)
      expect(tail).toHaveLength(50)
      expect(tail.at(-1)).toContain('t250000')
      expect(tail[0]).toContain('t249951')
    } finally {
      inspector.remove()
    }
  })
})
