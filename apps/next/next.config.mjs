// The app's own backend runs elsewhere (here: the dev chat server on CHAT_SERVER_PORT), as in many
// apps: Next proxies /api to it. Nothing in this config concerns run-relay.
const chatServer = `http://127.0.0.1:${process.env.CHAT_SERVER_PORT ?? 3999}`

export default {
  async rewrites() {
    return [{ source: '/api/:path*', destination: `${chatServer}/api/:path*` }]
  },
}
