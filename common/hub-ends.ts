/**
 * The hub's end of each event port, by port: `worker/hub-event-port.ts` adds each one it makes, so
 * that the shared-tab leader (`shared-tab.ts`) can count what it delivers to its followers
 * without loading the hub's code. Its own module, neutral: the worker imports it, and with it no
 * page code.
 */
export const hubEnds = new WeakMap<MessagePort, { readonly size: number }>()
