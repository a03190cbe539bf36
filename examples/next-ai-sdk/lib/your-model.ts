import type { LanguageModel } from 'ai'

/** Stands in for your provider's model (`openai(...)`, ...): the Next.js examples are type-checked (`npm run typecheck`), not run. */
export declare const yourModel: LanguageModel
