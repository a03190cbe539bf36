import type { ExecuteRequest } from '../server/index.ts'

/** A deterministic AI SDK turn: `tokens` text deltas at `rate` per second, framed as `streamText` frames them. */
export async function uiTokenTurn({ body, writer, signal }: ExecuteRequest): Promise<void> {
  const tokens = Number(body.tokens ?? 20)
  const rate = Number(body.rate ?? 200)
  writer.write({ type: 'start' })
  writer.write({ type: 'text-start', id: 'text-1' })
  for (let i = 0; i < tokens && !signal.aborted; i++) {
    writer.write({ type: 'text-delta', id: 'text-1', delta: `w${i} ` })
    await new Promise((resolve) => setTimeout(resolve, 1000 / rate))
  }
  if (signal.aborted) return
  writer.write({ type: 'text-end', id: 'text-1' })
  writer.write({ type: 'finish' })
}
