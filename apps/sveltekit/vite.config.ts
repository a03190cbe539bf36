import adapter from '@sveltejs/adapter-auto';
import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

// The `sv create` minimal TypeScript template's config, plus a proxy to the app's backend (the dev chat server).
export default defineConfig({
	plugins: [
		sveltekit({
			compilerOptions: {
				// Force runes mode for the project, except for libraries. Can be removed in svelte 6.
				runes: ({ filename }) =>
					filename.split(/[/\\]/).includes('node_modules') ? undefined : true
			},
			adapter: adapter()
		})
	],
	server: { proxy: { '/api': `http://127.0.0.1:${process.env.CHAT_SERVER_PORT ?? 3999}` } }
});
