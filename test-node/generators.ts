import type { RunProducer, StartRequest } from '../server/index.ts'

/** The token text the test generator emits at `index`: transcripts can be predicted. */
export const tokenText = (index: number) => `t${index} `

/**
 * A deterministic run: `tokens` tokens at `rate` per second (as many per tick as the rate allows),
 * then `done`, as the reference server does; stops when the run's signal aborts.
 */
export async function tokenRun(run: RunProducer, start: Pick<StartRequest, 'body'>): Promise<void> {
  const tokens = Number(start.body.tokens ?? 20)
  const rate = Number(start.body.rate ?? 200)
  const began = Date.now()
  let index = 0
  while (index < tokens) {
    if (run.signal.aborted) return
    const due = Math.min(tokens, Math.floor(((Date.now() - began) * rate) / 1000) + 1)
    for (; index < due; index++) run.emit('token', { text: tokenText(index), at: performance.timeOrigin + performance.now() })
    if (run.pending > 4096) await run.flush()
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(20, 1000 / rate))))
  }
  run.emit('done', { usage: { output_tokens: tokens } })
  run.emit('title', { title: 'test' })
}
