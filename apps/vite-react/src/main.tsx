import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './App.tsx'

// As the react-ts template writes it: StrictMode.
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App sessionId={new URLSearchParams(location.search).get('session') ?? 'vite-session'} />
  </StrictMode>,
)
