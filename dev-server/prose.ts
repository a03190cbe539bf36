/**
 * The dev chat server's replies: readable prose with paragraphs, a list and a code block,
 * deterministic from the prompt, so a missing or doubled token is easy to spot by eye.
 */

const OPENINGS = [
  'Here is how the run reaches every pane.',
  'Good question: the answer has three parts.',
  'Short version first, then the details.',
]
const POINTS = [
  'The worker holds one connection per running run.',
  'Each pane subscribes and unsubscribes; the connection stays.',
  'A late subscriber gets the catch-up, then live events.',
  'Every event arrives once, in order.',
  'A parked run resumes from its cursor when a slot frees.',
  'The registry shows which chats are still running.',
]
const CLOSINGS = [
  'That is all it takes to switch chats without losing a token.',
  'Ask again and the same reply comes back, word for word.',
  'Try switching chats while this reply is still streaming.',
]

function hashOf(text: string): number {
  let hash = 2166136261
  for (const char of text) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619)
  return hash >>> 0
}

/** The whole reply to `prompt`, as markdown. */
export function replyText(prompt: string): string {
  const hash = hashOf(prompt)
  const pick = <T>(items: T[], salt: number) => items[(hash >>> salt) % items.length]!
  const points = [0, 1, 2].map((i) => POINTS[(hash + i * 7) % POINTS.length]!)
  return [
    `${pick(OPENINGS, 3)} You asked: "${prompt.slice(0, 60)}".`,
    '',
    ...points.map((point, i) => `${i + 1}. ${point}`),
    '',
    '```ts',
    `const relay = createRunRelay()`,
    `relay.subscribe({ sessionId: '${(hash % 997).toString(36)}' }, handlers)`,
    '```',
    '',
    pick(CLOSINGS, 7),
    '',
  ].join('\n')
}

/** The reply split into tokens (a word with what follows it), repeated as long as asked. */
export function replyTokens(prompt: string): string[] {
  return replyText(prompt).match(/\S+\s*|\s+/g) ?? []
}
