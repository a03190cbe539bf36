import { createApp } from 'vue'
import App from './App.vue'

// As the vue-ts template writes it (without its stylesheet). Chat.vue is the README's Vue example
// (examples/vue-chat.vue, copied in by the harness).
createApp(App).mount('#app')
