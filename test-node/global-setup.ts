import type { TestProject } from 'vitest/node'
import { NO_REDIS_SERVER, redisServerPath, startRedis } from './redis-server.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The test Redis's URL, or '' when redis-server is missing (then `redisMissing` says why). */
    redisUrl: string
    redisMissing: string
  }
}

/** One real redis-server for the whole node run; the Redis tests fail loudly without one. */
export default async function setup(project: TestProject) {
  const path = redisServerPath()
  if (!path) {
    project.provide('redisUrl', '')
    project.provide('redisMissing', NO_REDIS_SERVER)
    return
  }
  const redis = await startRedis(path)
  project.provide('redisUrl', redis.url)
  project.provide('redisMissing', '')
  return () => redis.stop()
}
