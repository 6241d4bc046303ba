// How every terminal of the page looks: the theme of the page (light or dark) and the type
// size (larger in presenter mode), the same for the first terminal and its tabs (tabs.ts).
import type { ITheme, ITerminalOptions, Terminal } from '@xterm/xterm';

export const DARK: ITheme = {
  background: '#0d1117',
  foreground: '#e6edf3',
  cursor: '#e6edf3',
  cursorAccent: '#0d1117',
  selectionBackground: '#3b4d7a',
  black: '#484f58',
  red: '#ff7b72',
  green: '#3fb950',
  yellow: '#d29922',
  blue: '#58a6ff',
  magenta: '#bc8cff',
  cyan: '#39c5cf',
  white: '#b1bac4',
  brightBlack: '#6e7681',
  brightRed: '#ffa198',
  brightGreen: '#56d364',
  brightYellow: '#e3b341',
  brightBlue: '#79c0ff',
  brightMagenta: '#d2a8ff',
  brightCyan: '#56d4dd',
  brightWhite: '#ffffff',
};

export const LIGHT: ITheme = {
  background: '#fbfbfc',
  foreground: '#1f2328',
  cursor: '#1f2328',
  cursorAccent: '#fbfbfc',
  selectionBackground: '#c7d2fe',
  black: '#24292f',
  red: '#cf222e',
  green: '#116329',
  yellow: '#7d4e00',
  blue: '#0969da',
  magenta: '#8250df',
  cyan: '#1b7c83',
  white: '#6e7781',
  brightBlack: '#57606a',
  brightRed: '#a40e26',
  brightGreen: '#1a7f37',
  brightYellow: '#633c01',
  brightBlue: '#218bff',
  brightMagenta: '#a475f9',
  brightCyan: '#3192aa',
  brightWhite: '#8c959f',
};

// Presenter mode: larger type that still leaves ~95 columns across a 1024-pixel projector (the
// pane spans the page there, styles/terminal.css).
export const FONT_SIZE = { normal: 14, presenter: 17 };
/** The options a new terminal starts with, as the page looks now. */
export function terminalOptions(html: HTMLElement = document.documentElement): ITerminalOptions {
  return {
    fontFamily: getComputedStyle(html).getPropertyValue('--font-mono').trim() || 'monospace',
    fontSize: html.dataset.presenter === 'on' ? FONT_SIZE.presenter : FONT_SIZE.normal,
    lineHeight: 1.15,
    theme: html.dataset.theme === 'dark' ? DARK : LIGHT,
    cursorBlink: true,
    scrollback: 5000,
    macOptionIsMeta: true,
    allowProposedApi: false,
  };
}

/**
 * Keep `term` looking like the page: theme and presenter mode are attributes on <html>, flipped
 * by the header toggles. `refit` runs when the type size changed. Returns the stop function.
 */
export function followLook(term: Terminal, refit: () => void, html: HTMLElement = document.documentElement): () => void {
  const observer = new MutationObserver(() => {
    term.options.theme = html.dataset.theme === 'dark' ? DARK : LIGHT;
    const size = html.dataset.presenter === 'on' ? FONT_SIZE.presenter : FONT_SIZE.normal;
    if (term.options.fontSize !== size) {
      term.options.fontSize = size;
      refit();
    }
  });
  observer.observe(html, { attributes: true, attributeFilter: ['data-theme', 'data-presenter'] });
  return () => observer.disconnect();
}
