import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

// The `npm create vite` vue-ts config, plus a proxy to the app's backend (the dev chat server).
export default defineConfig({
  plugins: [vue()],
  server: { proxy: { '/api': `http://127.0.0.1:${process.env.CHAT_SERVER_PORT ?? 3999}` } },
})
