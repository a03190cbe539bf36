/**
 * What the Redis log needs from a client: raw commands, and the process's one subscriber
 * connection. Two thin adapters: `fromNodeRedis` (the `redis` package, an optional peer: a client
 * or a cluster) and `fromIoredis`. Both are typed structurally, so neither client is imported here.
 */
export interface RedisConnection {
  /**
   * Sends one command and resolves with its raw reply (arrays, strings, numbers, null). `key`: the
   * key the command touches (a cluster client routes by it; `SCRIPT LOAD` has none of its own).
   */
  send(args: string[], key?: string): Promise<unknown>
  /** A cluster: live channels are sharded (SPUBLISH in the scripts, `subscribe` is SSUBSCRIBE). */
  sharded?: boolean
  /** Subscribes the shared subscriber connection to `channel`; resolves once Redis confirmed it. */
  subscribe(channel: string, listener: (message: string) => void): Promise<void>
  /** Unsubscribes the shared subscriber connection from `channel`. */
  unsubscribe(channel: string): Promise<void>
  /** Closes the subscriber connection this adapter opened (the command client stays the caller's). */
  close(): Promise<void>
}

/** The part of a node-redis client the adapter uses (`redis` 6 is what the tests run; the peer range is ^6). */
export interface NodeRedisClientLike {
  /** Sends a raw command. */
  sendCommand(args: string[]): Promise<unknown>
  /** A new client with the same options: the adapter's subscriber connection. */
  duplicate(): NodeRedisClientLike
  /** Opens the connection. */
  connect(): Promise<unknown>
  /** Subscribes to a channel. */
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>
  /** Unsubscribes from a channel. */
  unsubscribe(channel: string): Promise<unknown>
  /** The client's connection errors. */
  on?(event: 'error', listener: (error: unknown) => void): unknown
  /** Closes the connection (node-redis 4). */
  quit?(): Promise<unknown>
  /** Closes the connection (node-redis 5 and later). */
  close?(): Promise<unknown>
  /** Whether the connection is open (or opening). */
  isOpen?: boolean
}

/** Options of `fromNodeRedis` and `fromIoredis`. */
export interface AdapterOptions {
  /**
   * Errors of the subscriber connection this adapter opens (it reconnects by itself; live
   * hints missed meanwhile are read from the log). Without a listener, a client's `error`
   * event would crash the process. @defaultValue ignore
   */
  onSubscriberError?: (error: unknown) => void
}

/**
 * Adapts a node-redis client. A client not yet connected is connected on first use, not at
 * import (a Next.js build imports route modules with no Redis reachable). The subscriber is
 * `client.duplicate()`, opened on first use too: a connection in subscribe mode cannot send other
 * commands (both clients' rule).
 */
export function fromNodeRedis(client: NodeRedisClientLike | NodeRedisClusterLike, options: AdapterOptions = {}): RedisConnection {
  if ('masters' in client) return fromNodeRedisCluster(client)
  if (typeof client.sendCommand !== 'function' || typeof (client as NodeRedisClientLike).duplicate !== 'function') {
    throw new TypeError('fromNodeRedis takes a node-redis client (createClient) or cluster (createCluster) of the `redis` package; for ioredis use fromIoredis, for anything else implement RedisConnection')
  }
  let subscriber: Promise<NodeRedisClientLike> | undefined
  let connecting: Promise<unknown> | undefined
  const opened = (): Promise<unknown> | undefined => {
    if (client.isOpen !== false) return undefined // connected (or connecting: node-redis queues), or a client that does not say
    const attempt = (connecting ??= client.connect())
    // A connect that failed (Redis down) is not cached: the next command tries again.
    attempt.catch(() => connecting === attempt && (connecting = undefined))
    return attempt
  }
  const subscriberOf = () => {
    if (subscriber) return subscriber
    const opening = (async () => {
      const sub = client.duplicate()
      sub.on?.('error', options.onSubscriberError ?? (() => {}))
      await sub.connect()
      return sub
    })()
    // A connect that failed (Redis down at the first follow) must not stay cached: the next subscribe tries again.
    opening.catch(() => subscriber === opening && (subscriber = undefined))
    return (subscriber = opening)
  }
  return {
    send: (args) => {
      const connect = opened()
      return connect ? connect.then(() => client.sendCommand(args)) : client.sendCommand(args)
    },
    async subscribe(channel, listener) {
      await (await subscriberOf()).subscribe(channel, (message) => listener(message))
    },
    async unsubscribe(channel) {
      if (subscriber) await (await subscriber).unsubscribe(channel)
    },
    async close() {
      if (!subscriber) return
      const sub = await subscriber.catch(() => undefined)
      subscriber = undefined
      if (!sub) return
      // node-redis 5+ names it close(); 4 names it quit().
      await (sub.close ? sub.close() : sub.quit?.())
    },
  }
}

/** The part of a node-redis cluster (`createCluster`) the adapter uses. */
export interface NodeRedisClusterLike {
  /** Sends a raw command to the node of `firstKey`. */
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>
  /** Opens the cluster's connections. */
  connect(): Promise<unknown>
  /** Subscribes to a sharded channel (SSUBSCRIBE). */
  sSubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>
  /** Unsubscribes from a sharded channel. */
  sUnsubscribe(channel: string): Promise<unknown>
  /** Whether the cluster's connections are open (or opening). */
  isOpen?: boolean
  /** Present on a cluster only (its master nodes): how the adapter tells one from a client. */
  masters: unknown
}

/**
 * Adapts a node-redis cluster: commands go to the node of their key; live channels are sharded
 * (SSUBSCRIBE, through the cluster's own subscriber connection per shard node, which node-redis
 * moves when a slot moves or a replica takes over).
 */
function fromNodeRedisCluster(cluster: NodeRedisClusterLike): RedisConnection {
  let connecting: Promise<unknown> | undefined
  const opened = async (): Promise<void> => {
    if (cluster.isOpen !== false) return
    const attempt = (connecting ??= cluster.connect())
    attempt.catch(() => connecting === attempt && (connecting = undefined))
    await attempt
  }
  return {
    sharded: true,
    async send(args, key) {
      await opened()
      return cluster.sendCommand(key ?? keyOf(args), false, args)
    },
    async subscribe(channel, listener) {
      await opened()
      await cluster.sSubscribe(channel, (message) => listener(message))
    },
    async unsubscribe(channel) {
      await cluster.sUnsubscribe(channel)
    },
    // The cluster is the caller's, its pub/sub connections with it.
    async close() {},
  }
}

/** The key of a command the log sends (EVALSHA's first key, else the first argument). */
function keyOf(args: string[]): string | undefined {
  const [command] = args
  if (command === 'EVALSHA' || command === 'EVAL') return Number(args[2]) > 0 ? args[3] : undefined
  return args[1]
}

/** The part of an ioredis client the adapter uses. */
export interface IoredisLike {
  /** Sends a raw command. */
  call(command: string, ...args: string[]): Promise<unknown>
  /** A new client with the same options: the adapter's subscriber connection. */
  duplicate(): IoredisLike
  /** Subscribes to a channel. */
  subscribe(channel: string): Promise<unknown>
  /** Unsubscribes from a channel. */
  unsubscribe(channel: string): Promise<unknown>
  /** A message on a subscribed channel. */
  on(event: 'message', listener: (channel: string, message: string) => void): unknown
  /** The client's connection errors. */
  on(event: 'error', listener: (error: unknown) => void): unknown
  /** Closes the connection. */
  quit(): Promise<unknown>
}

/** The part of an ioredis `Cluster` the adapter uses (created with `shardedSubscribers: true`). */
export interface IoredisClusterLike {
  /** Present on a cluster only: how the adapter tells one from a client. */
  isCluster: true
  /** The cluster's options. */
  options: {
    /** Must be true: the log follows runs on sharded channels. */
    shardedSubscribers?: boolean
  }
  /** Sends a raw command to the node of its key. */
  call(command: string, ...args: string[]): Promise<unknown>
  /** The master nodes (a script is loaded on each). */
  nodes(role: 'master'): Array<{
    /** Sends a raw command to this node. */
    call(command: string, ...args: string[]): Promise<unknown>
  }>
  /** Subscribes to a sharded channel (SSUBSCRIBE). */
  ssubscribe(channel: string): Promise<unknown>
  /** Unsubscribes from a sharded channel. */
  sunsubscribe(channel: string): Promise<unknown>
  /** A message on a subscribed sharded channel. */
  on(event: 'smessage', listener: (channel: string, message: string) => void): unknown
}

/**
 * Adapts an ioredis `Cluster`: ioredis routes each command by its key; a script is loaded on every
 * master (ioredis would send SCRIPT LOAD to any one node; a master promoted later loads it on its
 * first NOSCRIPT); live channels are sharded (`ssubscribe`, which needs `shardedSubscribers: true`).
 */
function fromIoredisCluster(cluster: IoredisClusterLike): RedisConnection {
  if (!cluster.options.shardedSubscribers) {
    throw new TypeError('fromIoredis: create the Cluster with { shardedSubscribers: true }: the run log follows runs on sharded channels (SSUBSCRIBE)')
  }
  const listeners = new Map<string, (message: string) => void>()
  cluster.on('smessage', (channel, message) => listeners.get(channel)?.(message))
  return {
    sharded: true,
    async send([command, ...args]) {
      if (command === 'SCRIPT' && args[0] === 'LOAD') return (await Promise.all(cluster.nodes('master').map((node) => node.call('SCRIPT', ...args))))[0]
      return cluster.call(command!, ...args)
    },
    async subscribe(channel, listener) {
      listeners.set(channel, listener)
      try {
        await cluster.ssubscribe(channel)
      } catch (error) {
        if (listeners.get(channel) === listener) listeners.delete(channel)
        throw error
      }
    },
    async unsubscribe(channel) {
      listeners.delete(channel)
      await cluster.sunsubscribe(channel)
    },
    async close() {},
  }
}

/** Adapts an ioredis client (its subscriber is `client.duplicate()`, opened on first use), or an ioredis `Cluster`. */
export function fromIoredis(client: IoredisLike | IoredisClusterLike, options: AdapterOptions = {}): RedisConnection {
  if ('isCluster' in client && client.isCluster) return fromIoredisCluster(client)
  if (typeof (client as IoredisLike).call !== 'function' || typeof (client as IoredisLike).duplicate !== 'function') {
    throw new TypeError('fromIoredis takes an ioredis client (new Redis()) or Cluster (new Cluster(…, { shardedSubscribers: true })); for node-redis use fromNodeRedis, for anything else implement RedisConnection')
  }
  return fromIoredisClient(client as IoredisLike, options)
}

function fromIoredisClient(client: IoredisLike, options: AdapterOptions): RedisConnection {
  const listeners = new Map<string, (message: string) => void>()
  let subscriber: IoredisLike | undefined
  const subscriberOf = () => {
    if (!subscriber) {
      subscriber = client.duplicate()
      subscriber.on('message', (channel, message) => listeners.get(channel)?.(message))
      subscriber.on('error', options.onSubscriberError ?? (() => {}))
    }
    return subscriber
  }
  return {
    send: ([command, ...args]) => client.call(command!, ...args),
    async subscribe(channel, listener) {
      listeners.set(channel, listener)
      try {
        await subscriberOf().subscribe(channel)
      } catch (error) {
        // ioredis reconnects (and re-subscribes) by itself, so the subscriber stays; the failed channel's listener goes.
        if (listeners.get(channel) === listener) listeners.delete(channel)
        throw error
      }
    },
    async unsubscribe(channel) {
      listeners.delete(channel)
      await subscriber?.unsubscribe(channel)
    },
    async close() {
      await subscriber?.quit()
      subscriber = undefined
    },
  }
}
