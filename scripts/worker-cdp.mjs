/**
 * A DevTools-protocol session with a SharedWorker, found by its title (the worker's name).
 * Playwright does not list SharedWorkers, and its CDP sessions cannot address a child target,
 * so messages travel through `Target.sendMessageToTarget` on a browser session.
 * Used by the tests' browser commands and by `npm run bench`.
 *
 * @param {import('playwright').Browser} browser
 * @param {string} title
 * @returns {Promise<{ send(method: string, params?: object): Promise<any>, detach(): Promise<void> }>}
 */
export async function attachToSharedWorker(browser, title) {
  const cdp = await browser.newBrowserCDPSession()
  const { targetInfos } = await cdp.send('Target.getTargets')
  const target = targetInfos.find((t) => t.type === 'shared_worker' && t.title === title)
  if (!target) {
    await cdp.detach()
    throw new Error(`No SharedWorker named ${title}; running: ${targetInfos.map((t) => `${t.type} ${t.title}`).join(', ')}`)
  }
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false })
  let nextId = 1
  const pending = new Map()
  cdp.on('Target.receivedMessageFromTarget', ({ message }) => {
    const reply = JSON.parse(message)
    const settle = pending.get(reply.id)
    pending.delete(reply.id)
    settle?.(reply)
  })
  return {
    send: (method, params = {}) => new Promise((resolve, reject) => {
      const id = nextId++
      pending.set(id, (reply) => (reply.error ? reject(new Error(`${method}: ${reply.error.message}`)) : resolve(reply.result)))
      cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject)
    }),
    detach: async () => {
      await cdp.send('Target.detachFromTarget', { sessionId }).catch(() => {})
      await cdp.detach()
    },
  }
}
