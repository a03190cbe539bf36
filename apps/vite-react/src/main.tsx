import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './App.tsx'

// As the react-ts template writes it: StrictMode. App.tsx is the README's React example (examples/react-chat.tsx, copied in by the harness).
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App sessionId={new URLSearchParams(location.search).get('session') ?? 'vite-session'} />
  </StrictMode>,
)
