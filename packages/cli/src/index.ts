export { EXIT, type MainIO, main } from './main.js'
