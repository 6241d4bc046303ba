// The interface strings the browser scripts need, written into each page by the layout
// (<script type="application/json" id="isolab-strings">) in the page's language.
import type { ClientStrings } from '../lib/i18n.ts';

let cached: ClientStrings | undefined;

export function clientStrings(): ClientStrings {
  if (cached) return cached;
  const el = document.getElementById('isolab-strings');
  cached = JSON.parse(el?.textContent || '{}') as ClientStrings;
  return cached;
}
