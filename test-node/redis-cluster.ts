import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { NO_REDIS_SERVER, redisServerPath } from './redis-server.ts'

const run = promisify(execFile)

/**
 * A real Redis Cluster of Debian's `redis-server` and `redis-cli`, started by the tests:
 * `masters` masters, each with `replicasPerMaster` replicas, every node a plain process in its own
 * directory (TOOLCHAIN.md: cluster). Ready once every node reports `cluster_state:ok`.
 */
export interface RedisCluster {
  /** One node's URL (node-redis finds the rest: `createCluster({ rootNodes: [{ url }] })`). */
  url: string
  ports: number[]
  /** `redis-cli -p <port> <args>`: its stdout. */
  cli(port: number, ...args: string[]): Promise<string>
  /** The port of the master serving `key`'s slot, and its replicas' ports. */
  nodesOf(key: string): Promise<{ master: number; replicas: number[] }>
  /** Kills a node with SIGKILL (a crashed master). */
  kill(port: number): void
  /** Polls until every live node reports `cluster_state:ok` and `key`'s slot has a master that answers. */
  waitHealthy(key?: string, timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

/** A port whose cluster bus port (port + 10000) is free too. */
async function clusterPort(): Promise<number> {
  const free = (port: number) => new Promise<boolean>((resolve) => {
    const server = createServer().once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    if ((await free(port)) && (await free(port + 10_000))) return port
  }
}

export async function startRedisCluster(masters = 3, replicasPerMaster = 1): Promise<RedisCluster> {
  const server = redisServerPath()
  if (!server) throw new Error(NO_REDIS_SERVER)
  const cliPath = join(dirname(server), 'redis-cli')
  const cliBinary = existsSync(cliPath) ? cliPath : 'redis-cli'
  const dir = mkdtempSync(join(tmpdir(), 'run-relay-cluster-'))
  const count = masters * (1 + replicasPerMaster)
  const ports: number[] = []
  for (let i = 0; i < count; i++) ports.push(await clusterPort())
  const children = new Map<number, ChildProcess>()
  await Promise.all(ports.map((port) => new Promise<void>((resolve, reject) => {
    const child = spawn(server, ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
      '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', ''], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.set(port, child)
    let output = ''
    const timer = setTimeout(() => reject(new Error(`redis-server ${port} did not start:\n${output}`)), 10_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
      if (/ready to accept connections/i.test(output)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`redis-server ${port} exited with ${code}:\n${output}`))
    })
  })))
  const cli = async (port: number, ...args: string[]) => (await run(cliBinary, ['-p', String(port), ...args])).stdout
  await run(cliBinary, ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'])
  const live = () => ports.filter((port) => children.get(port)?.exitCode === null && children.get(port)?.signalCode === null)

  const cluster: RedisCluster = {
    url: `redis://127.0.0.1:${ports[0]}`,
    ports,
    cli,
    async nodesOf(key) {
      const slot = Number((await cli(live()[0]!, 'CLUSTER', 'KEYSLOT', key)).trim())
      const lines = (await cli(live()[0]!, 'CLUSTER', 'NODES')).trim().split('\n').map((line) => line.split(' '))
      const portOf = (fields: string[]) => Number(fields[1]!.split('@')[0]!.split(':')[1])
      const master = lines.find((fields) => fields[2]!.includes('master') && !fields[2]!.includes('fail') && fields.slice(8).some((range) => {
        const [from, to] = range.split('-').map(Number)
        return slot >= from! && slot <= (to ?? from)!
      }))
      if (!master) throw new Error(`no master serves slot ${slot}`)
      const replicas = lines.filter((fields) => fields[3] === master[0] && !fields[2]!.includes('fail')).map(portOf)
      return { master: portOf(master), replicas }
    },
    kill(port) {
      children.get(port)?.kill('SIGKILL')
    },
    async waitHealthy(key, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const states = await Promise.all(live().map((port) => cli(port, 'CLUSTER', 'INFO').catch(() => '')))
        let keyServed = key === undefined
        if (!keyServed) keyServed = await cluster.nodesOf(key!).then(({ master }) => live().includes(master), () => false)
        if (keyServed && states.every((state) => /cluster_state:ok/.test(state))) return
        if (Date.now() > deadline) throw new Error(`the cluster is not healthy after ${timeoutMs} ms:\n${states.join('\n')}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
    async stop() {
      await Promise.all([...children.values()].map((child) => new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      })))
      rmSync(dir, { recursive: true, force: true })
    },
  }
  await cluster.waitHealthy()
  return cluster
}
