// Client-side routing under /portal/: real <a href> links (keyboard, middle-click and copy work), a plain
// click becomes history.pushState. After a navigation the page's <h1> takes focus so screen readers and
// keyboard users land on the new content.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/portal';

export function currentPath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return p.replace(/\/+$/, '') || '/';
}

export function navigate(path: string): void {
  history.pushState(null, '', BASE + path + location.search);
  window.dispatchEvent(new Event('tp:navigate'));
  window.scrollTo(0, 0);
  requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus());
}

export function usePath(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const on = () => setPath(currentPath());
    window.addEventListener('popstate', on);
    window.addEventListener('tp:navigate', on);
    return () => {
      window.removeEventListener('popstate', on);
      window.removeEventListener('tp:navigate', on);
    };
  }, []);
  return path;
}

function click(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = (e.currentTarget as HTMLAnchorElement).getAttribute('href');
  if (!href || !href.startsWith(BASE)) return;
  e.preventDefault();
  navigate(href.slice(BASE.length) || '/');
}

export function Link(props: { href: string; class?: string; children: ComponentChildren; current?: boolean }) {
  return (
    <a href={BASE + props.href} class={props.class} aria-current={props.current ? 'page' : undefined} onClick={click}>
      {props.children}
    </a>
  );
}
