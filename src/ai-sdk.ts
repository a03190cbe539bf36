/**
 * `RelayChatTransport`: the AI SDK's `ChatTransport` over run-relay, for `useChat` and the `Chat` classes of `@ai-sdk/vue` and `@ai-sdk/svelte`.
 *
 * @module run-relay/ai-sdk
 */
import type { ChatRequestOptions, ChatTransport, PrepareReconnectToStreamRequest, PrepareSendMessagesRequest, UIMessage, UIMessageChunk } from 'ai'
import { RelayError } from './errors.ts'
import type { RunRelay } from './relay-types.ts'
import { isFinal } from '../common/run-status.ts'

/** What `RelayChatTransport` takes: the relay, and `DefaultChatTransport`'s options with their meaning. */
export interface RelayChatTransportOptions<M extends UIMessage = UIMessage> {
  /** The relay whose hub streams the chats (`createRunRelay()`, or a provider's). */
  relay: RunRelay
  /** The endpoint that starts a turn with a POST and answers with its UI message stream. @defaultValue `'/api/chat'` */
  api?: string
  /** The resume GET of a chat's active stream (204 when none runs). @defaultValue `` (chatId) => `${api}/${chatId}/stream` `` */
  resumeUrl?: (chatId: string) => string
  /** Headers of every request (an `Authorization`, say): a value, a promise or a function, resolved on the page before each request, as `DefaultChatTransport`'s. */
  headers?: Resolvable<Record<string, string> | Headers>
  /** Extra JSON fields of every POST body: a value, a promise or a function, as `DefaultChatTransport`'s. */
  body?: Resolvable<object>
  /** `'include'` sends cookies to another origin (the run's `withCredentials`); `'same-origin'` (the default) and `'omit'` do not. */
  credentials?: Resolvable<RequestCredentials>
  /**
   * Builds the POST that starts a turn, exactly as `DefaultChatTransport`'s option of the same name:
   * for a server that reads `body.message` (the AI SDK docs' resumable server), say. Its `api`,
   * `headers` and `credentials` override the transport's.
   */
  prepareSendMessagesRequest?: PrepareSendMessagesRequest<M>
  /** Builds the resume GET, as `DefaultChatTransport`'s option: its `api` is the resume URL. */
  prepareReconnectToStreamRequest?: PrepareReconnectToStreamRequest
}

/** A value, a promise of it, or a function that gives either (`DefaultChatTransport`'s `Resolvable`). */
export type Resolvable<T> = T | Promise<T> | (() => T | Promise<T>)

async function resolve<T>(value: Resolvable<T> | undefined): Promise<T | undefined> {
  return typeof value === 'function' ? (value as () => T | Promise<T>)() : value
}

type SendOptions<M extends UIMessage> = Parameters<ChatTransport<M>['sendMessages']>[0]

/**
 * A `ChatTransport` for the AI SDK's `useChat` that streams through run-relay: one connection
 * per running chat for every tab, and a chat switch (which makes `useChat` abort) only drops the
 * pane's subscription: the hub keeps the run's connection, and `resume: true` picks it up again
 * from the hub, whole, with no new request.
 *
 * @example
 * const transport = new RelayChatTransport({ relay })
 * const { messages, sendMessage } = useChat({ id: chatId, transport, resume: true })
 */
export class RelayChatTransport<M extends UIMessage = UIMessage> implements ChatTransport<M> {
  /** The resume GET replays the response from its first chunk; the SDK resets the message for it. */
  readonly resumeStreamIsReplay = true
  readonly #relay: RunRelay
  readonly #api: string
  readonly #resumeUrl: (chatId: string) => string
  readonly #options: RelayChatTransportOptions<M>
  /** Resume GETs this transport opened, per chat: a new turn replaces them (never two connections for one chat). */
  readonly #resuming = new Map<string, string>()
  /** Turns started per chat: a resume that a new turn overtook gives way to it. */
  readonly #turns = new Map<string, number>()

  constructor(options: RelayChatTransportOptions<M>) {
    this.#relay = options.relay
    this.#api = options.api ?? '/api/chat'
    this.#resumeUrl = options.resumeUrl ?? ((chatId) => `${this.#api}/${encodeURIComponent(chatId)}/stream`)
    this.#options = options
  }

  /** The transport's headers, body and credentials, resolved now, with a request's own headers and body over them. */
  async #base(options: { headers?: ChatRequestOptions['headers']; body?: object }) {
    const headers = { ...headersOf(await resolve(this.#options.headers)), ...headersOf(options.headers) }
    const body: Record<string, unknown> = { ...(await resolve(this.#options.body)), ...options.body }
    return { headers, body, credentials: await resolve(this.#options.credentials) }
  }

  /** The resume GET of a chat, as `prepareReconnectToStreamRequest` shapes it. */
  async #resumeRequest(chatId: string, options: { headers?: ChatRequestOptions['headers']; body?: object; metadata?: unknown }) {
    const base = await this.#base(options)
    const prepared = await this.#options.prepareReconnectToStreamRequest?.({ id: chatId, requestMetadata: options.metadata, body: base.body, headers: base.headers, credentials: base.credentials, api: this.#api })
    return {
      url: prepared?.api ?? this.#resumeUrl(chatId),
      headers: prepared?.headers !== undefined ? headersOf(prepared.headers) : base.headers,
      credentials: prepared?.credentials ?? base.credentials,
    }
  }

  /** Starts a turn: the hub sends the POST and holds its stream; reconnects go to the resume GET. */
  async sendMessages(options: SendOptions<M>): Promise<ReadableStream<UIMessageChunk>> {
    const { chatId, messages, trigger, messageId, abortSignal } = options
    this.#turns.set(chatId, (this.#turns.get(chatId) ?? 0) + 1)
    const resuming = this.#resuming.get(chatId)
    if (resuming !== undefined) {
      this.#resuming.delete(chatId)
      await this.#relay.close(resuming) // a resume GET still open would hold a second connection to this chat's stream
    }
    const runId = `${chatId}:${crypto.randomUUID()}`
    // [DefaultChatTransport] resolved on the page, before the hub opens the run: functions never cross to the worker.
    const base = await this.#base(options)
    const prepared = await this.#options.prepareSendMessagesRequest?.({
      id: chatId, messages, requestMetadata: options.metadata, body: base.body, headers: base.headers, credentials: base.credentials, api: this.#api, trigger, messageId,
    })
    const headers = prepared?.headers !== undefined ? headersOf(prepared.headers) : base.headers
    const body = prepared?.body !== undefined ? prepared.body : { ...base.body, id: chatId, messages, trigger, messageId }
    const credentials = prepared?.credentials ?? base.credentials
    const resume = await this.#resumeRequest(chatId, options)
    await this.#relay.open({
      runId,
      sessionId: chatId,
      url: prepared?.api ?? this.#api,
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
      resumeUrl: resume.url,
      withCredentials: credentials === 'include',
      preset: 'ai-sdk',
    })
    return this.#stream(runId, abortSignal)
  }

  /**
   * Picks up a chat's stream: from the hub when it holds a live run of the chat (after a chat
   * switch, or in another tab: no new request), else from the server's resume GET. `null` when
   * nothing runs.
   */
  async reconnectToStream(options: { chatId: string; abortSignal?: AbortSignal } & ChatRequestOptions): Promise<ReadableStream<UIMessageChunk> | null> {
    const { chatId } = options
    const turn = this.#turns.get(chatId)
    const overtaken = () => this.#turns.get(chatId) !== turn // a new turn started meanwhile: its stream is the one to read
    const live = await this.#relay.activeRun(chatId)
    if (live) return this.#stream(live.runId, options.abortSignal)
    if (overtaken()) return null
    const runId = `${chatId}:resume:${crypto.randomUUID()}`
    this.#resuming.set(chatId, runId)
    const resume = await this.#resumeRequest(chatId, options)
    const opened = await this.#relay.open({
      runId, sessionId: chatId, url: resume.url, preset: 'ai-sdk', headers: resume.headers, withCredentials: resume.credentials === 'include',
    })
    if (overtaken()) {
      await this.#relay.close(runId)
      return null
    }
    if (opened.status === 'ended' && opened.eventCount === 0) return null
    const stream = this.#stream(runId, options.abortSignal)
    return (await this.#firstStatus(runId)) === 'empty' ? null : stream
  }

  /** Whether a resume GET found a stream (it answers 204 when none runs: the run ends with no event). */
  #firstStatus(runId: string): Promise<'empty' | 'streaming'> {
    return new Promise((resolve) => {
      const stop = this.#relay.subscribe({ runId }, {
        onEvents: () => {
          stop()
          resolve('streaming')
        },
        onStatus: (status) => {
          if (!isFinal(status)) return
          stop()
          resolve('empty')
        },
      })
    })
  }

  /** The run's events as UI message chunks. Aborting drops this subscription only: the hub keeps the run. */
  #stream(runId: string, abortSignal: AbortSignal | undefined): ReadableStream<UIMessageChunk> {
    let stop = () => {}
    return new ReadableStream<UIMessageChunk>({
      start: (controller) => {
        let done = false
        const finish = (error?: Error) => {
          if (done) return
          done = true
          stop()
          if (error) controller.error(error)
          else controller.close()
        }
        stop = this.#relay.subscribe({ runId }, {
          onEvents: (events) => {
            for (const event of events) {
              if (done || event.data.trim() === '[DONE]') continue
              if (event.json !== undefined) controller.enqueue(event.json as UIMessageChunk)
            }
          },
          onStatus: (status, _runId, error) => {
            if (status === 'ended') finish()
            else if (status === 'failed') finish(new RelayError(error?.code ?? 'http', error?.message ?? `Run ${runId} failed`))
          },
          // A stream never hangs: a run no hub holds any more, or one whose replay lost events, errors it (useChat's onError).
          onWaiting: () => finish(new RelayError('unresumable', `The hub that held run ${runId} went away and no tab opened the run again: its stream cannot be resumed here. Reload the chat to load it from the server.`)),
          onResync: (_runId, reason, message) => finish(new RelayError('unresumable', `The reply of run ${runId} is incomplete (${reason}): ${message}`)),
        }, { decode: 'json' })
        abortSignal?.addEventListener('abort', () => finish(), { once: true })
      },
      cancel: () => stop(),
    })
  }
}

function headersOf(headers: HeadersInit | undefined): Record<string, string> {
  if (!headers) return {}
  if (headers instanceof Headers) return Object.fromEntries(headers.entries())
  return Array.isArray(headers) ? Object.fromEntries(headers) : { ...headers }
}
