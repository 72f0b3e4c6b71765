import { render } from 'preact';
import '../shared/styles.css';

function App() {
  return <main><h1>Turnpike console</h1></main>;
}

const root = document.getElementById('app');
if (root) render(<App />, root);
