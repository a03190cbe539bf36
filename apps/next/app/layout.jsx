import { RunRelayProvider } from 'run-relay/react'

// A server component: the provider comes from a 'use client' module (run-relay/react).
export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>
        <RunRelayProvider>{children}</RunRelayProvider>
      </body>
    </html>
  )
}
