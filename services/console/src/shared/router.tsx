// Client-side routing under an app's base path (/console, /portal): links are real <a href>s (keyboard,
// middle-click and copy work); a plain click is turned into history.pushState so the page does not reload.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export interface RouterOptions {
  /** Carry the query string over to the new path (the portal addresses its tenant with `?tenant=`). */
  keepQuery?: boolean;
  /** After a navigation, focus the element this selector finds (the new page's heading), so that screen
   * readers and keyboard users land on the new content. */
  focus?: string;
}

export interface Router {
  navigate(path: string): void;
  /** The current path below the base (`/`, `/calls/…`); re-renders on every navigation. */
  usePath(): string;
  Link(props: { href: string; class?: string; children: ComponentChildren; current?: boolean }): JSX.Element;
}

export function createRouter(base: string, opts: RouterOptions = {}): Router {
  const currentPath = () => {
    const p = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : location.pathname;
    return p.replace(/\/+$/, '') || '/';
  };

  const navigate = (path: string) => {
    history.pushState(null, '', base + path + (opts.keepQuery ? location.search : ''));
    window.dispatchEvent(new Event('tp:navigate'));
    window.scrollTo(0, 0);
    const focus = opts.focus;
    if (focus) requestAnimationFrame(() => document.querySelector<HTMLElement>(focus)?.focus());
  };

  const usePath = () => {
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
  };

  // onClick for an <a href>: in-app navigation for a plain left click, the browser's default otherwise.
  const click = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const href = (e.currentTarget as HTMLAnchorElement).getAttribute('href');
    if (!href || !href.startsWith(base)) return;
    e.preventDefault();
    navigate(href.slice(base.length) || '/');
  };

  const Link: Router['Link'] = (props) => (
    <a href={base + props.href} class={props.class} aria-current={props.current ? 'page' : undefined} onClick={click}>
      {props.children}
    </a>
  );

  return { navigate, usePath, Link };
}
