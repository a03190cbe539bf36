import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// The `npm create vite` react-ts config, plus a proxy to the app's backend (the dev chat server).
export default defineConfig({
  plugins: [react()],
  server: { proxy: { '/api': `http://127.0.0.1:${process.env.CHAT_SERVER_PORT ?? 3999}` } },
})
